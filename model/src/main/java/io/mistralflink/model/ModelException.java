package io.mistralflink.model;

/** A checkpoint, tokenizer or input that cannot be used; the message names the file and the field. */
public final class ModelException extends RuntimeException {
    public ModelException(String message) { super(message); }
    public ModelException(String message, Throwable cause) { super(message, cause); }
}
