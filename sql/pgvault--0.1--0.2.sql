-- pgvault 0.1 -> 0.2. Every change here is also in pgvault--0.2.sql (a
-- fresh install); the upgrade test checks that both give the same objects.
\echo Use "ALTER EXTENSION pgvault UPDATE TO '0.2'" to load this file. \quit
