package io.mistralflink.job.cli;

import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A text given inline or in a file, exactly one of the two ({@code --prompt | --prompt-file}, {@code --text | --text-file}). */
record TextSource(String inlineOption, String inline, String fileOption, Path file) {
    String read(CommandSpec spec) {
        if ((inline == null) == (file == null)) throw CliCommand.usage(spec, "give exactly one of " + inlineOption + " and " + fileOption);
        if (inline != null) return inline;
        try { return Files.readString(file); }
        catch (IOException e) { throw CliCommand.usage(spec, fileOption + " " + file + ": cannot be read (" + e.getMessage() + ")"); }
    }
}
