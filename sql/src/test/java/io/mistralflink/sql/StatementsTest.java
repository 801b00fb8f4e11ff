package io.mistralflink.sql;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** A script splits at the semicolons that end statements, and nowhere else. */
class StatementsTest {
    @Test void semicolonsInQuotesAndCommentsDoNotSplit() {
        String script = """
                -- a comment; with a semicolon
                CREATE TABLE t (s STRING) WITH ('connector' = 'datagen', 'x' = 'a;b', 'y' = 'it''s; fine');
                /* block; comment */ SELECT `odd;name`, "q;q" FROM t;
                  ;
                SELECT 1""";
        assertEquals(List.of("CREATE TABLE t (s STRING) WITH ('connector' = 'datagen', 'x' = 'a;b', 'y' = 'it''s; fine')",
                "SELECT `odd;name`, \"q;q\" FROM t", "SELECT 1"), Statements.split(script));
    }

    @Test void anUnterminatedQuoteIsAnError() {
        var e = assertThrows(IllegalArgumentException.class, () -> Statements.split("SELECT 'open; SELECT 2"));
        assertTrue(e.getMessage().contains("unterminated ' quote"), e.getMessage());
        assertEquals(List.of(), Statements.split(" -- nothing\n ; "));
    }
}
