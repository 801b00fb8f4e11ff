package io.mistralflink.job;

import io.mistralflink.model.TestModels;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The README's command table against the commands' own {@code --help} (generated from their annotations):
 * every option a row names is an option of one of the row's commands, and every command is in the table.
 */
class ReadmeCommandsTest {
    private static final Pattern OPTION = Pattern.compile("(?<![\\w-])--[a-z][a-z0-9-]*");
    private static final Pattern CODE = Pattern.compile("`([^`]+)`");

    /** One row of the table: the commands its first cell names (as paths: "cluster up"), and its text. */
    record Row(List<String> commands, String text) {}

    static List<Row> table() throws Exception {
        List<String> lines = Files.readAllLines(TestModels.root().resolve("README.md"));
        int start = lines.indexOf("## Commands");
        assertTrue(start >= 0, "README.md has a section ## Commands");
        Set<String> known = commands().keySet();
        List<Row> rows = new ArrayList<>();
        for (String line : lines.subList(start + 1, lines.size())) {
            if (line.startsWith("## ")) break;
            if (!line.startsWith("| `")) continue;
            String first = line.substring(1, line.indexOf(" | ", 1) < 0 ? line.length() : line.indexOf(" | ", 1));
            List<String> named = new ArrayList<>();
            Matcher code = CODE.matcher(first);
            while (code.find()) {
                String[] words = code.group(1).trim().split("\\s+");
                String path = words.length > 1 && known.contains(words[0] + " " + words[1]) ? words[0] + " " + words[1] : words[0];
                if (known.contains(path)) named.add(path);
            }
            assertFalse(named.isEmpty(), "a command in the first cell of: " + line);
            rows.add(new Row(named, line));
        }
        return rows;
    }

    /** Every command and subcommand, by path ("cluster up"), with the options its --help lists. */
    static java.util.Map<String, Set<String>> commands() throws Exception {
        java.util.Map<String, Set<String>> all = new java.util.TreeMap<>();
        collect(Cli.commandLine(), "", all);
        return all;
    }

    private static void collect(CommandLine cl, String prefix, java.util.Map<String, Set<String>> into) throws Exception {
        for (var e : cl.getSubcommands().entrySet()) {
            if (e.getKey().equals("help")) continue;
            String path = (prefix + " " + e.getKey()).trim();
            into.put(path, options(help(path)));
            collect(e.getValue(), path, into);
        }
    }

    static String help(String path) throws Exception {
        List<String> argv = new ArrayList<>(path.isEmpty() ? List.of() : List.of(path.split(" ")));
        argv.add("--help");
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        assertEquals(0, Cli.run(argv.toArray(String[]::new), new PrintStream(buf, true, StandardCharsets.UTF_8)), path + " --help");
        return buf.toString(StandardCharsets.UTF_8);
    }

    private static Set<String> options(String text) {
        Set<String> o = new LinkedHashSet<>();
        Matcher m = OPTION.matcher(text);
        while (m.find()) o.add(m.group());
        return o;
    }

    @Test void everyOptionTheReadmeNamesIsAnOptionOfItsCommand() throws Exception {
        var commands = commands();
        List<String> wrong = new ArrayList<>();
        for (Row r : table())
            for (String o : options(r.text()))
                if (r.commands().stream().noneMatch(c -> commands.get(c).contains(o))) wrong.add(r.commands() + " " + o);
        assertEquals(List.of(), wrong, "options the README names that the commands' --help does not list");
    }

    @Test void everyCommandIsInTheReadme() throws Exception {
        Set<String> missing = new TreeSet<>(commands().keySet());
        for (Row r : table()) r.commands().forEach(missing::remove);
        missing.removeIf(c -> c.equals("cluster"));   // its subcommands are the rows
        assertEquals(Set.of(), missing, "commands the README's table leaves out");
    }

    @Test void helpIsGeneratedForEveryCommandAndNamesItsDefaults() throws Exception {
        String batch = help("batch");
        assertTrue(batch.contains("--lanes") && batch.contains("Default: 2"), batch);
        String top = help("");
        for (String c : commands().keySet()) if (!c.contains(" ")) assertTrue(top.contains(c), c + " in the top-level usage");
    }
}
