-- Database for all stream-analytics objects.
-- Files in this folder are applied in lexical order and must stay idempotent.
-- Once applied somewhere, a file is immutable: add a new file instead of editing.
-- Rules for the simple splitters: one statement per block ending with a
-- semicolon at the end of a line, and no semicolons in strings or comments.
CREATE DATABASE IF NOT EXISTS stream_analytics;
