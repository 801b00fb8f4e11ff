package io.mistralflink.job.common;

/** A bad argument or input: the CLI prints the message, one line, and exits with status 2. */
public final class UsageException extends RuntimeException {
    public UsageException(String message) { super(message); }
}
