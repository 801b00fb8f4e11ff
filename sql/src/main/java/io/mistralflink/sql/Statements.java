package io.mistralflink.sql;

import java.util.ArrayList;
import java.util.List;

/**
 * A script split into its statements at the semicolons that end them: not inside quotes ('...', "...",
 * `...`, with doubled quotes as escapes) nor inside comments (-- to the end of the line, and block comments). Statements with
 * nothing but whitespace and comments are dropped.
 */
public final class Statements {
    private Statements() {}

    public static List<String> split(String script) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        boolean content = false;
        int n = script.length();
        for (int i = 0; i < n; i++) {
            char c = script.charAt(i);
            if (c == '-' && i + 1 < n && script.charAt(i + 1) == '-') {
                int end = script.indexOf('\n', i);
                i = end < 0 ? n - 1 : end;
                cur.append('\n');
                continue;
            }
            if (c == '/' && i + 1 < n && script.charAt(i + 1) == '*') {
                int end = script.indexOf("*/", i + 2);
                i = end < 0 ? n - 1 : end + 1;
                cur.append(' ');
                continue;
            }
            if (c == '\'' || c == '"' || c == '`') {
                int j = i + 1;
                while (j < n) {
                    if (script.charAt(j) == c) {
                        if (j + 1 < n && script.charAt(j + 1) == c) { j += 2; continue; }
                        break;
                    }
                    j++;
                }
                if (j >= n) throw new IllegalArgumentException("unterminated " + c + " quote starting at character " + (i + 1));
                cur.append(script, i, j + 1);
                content = true;
                i = j;
                continue;
            }
            if (c == ';') {
                if (content) out.add(cur.toString().strip());
                cur.setLength(0);
                content = false;
                continue;
            }
            cur.append(c);
            if (!Character.isWhitespace(c)) content = true;
        }
        if (content) out.add(cur.toString().strip());
        return out;
    }
}
