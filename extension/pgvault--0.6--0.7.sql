-- pgvault 0.6 -> 0.7. Every change here is also in pgvault--0.7.sql (a
-- fresh install); the upgrade test checks that both give the same objects.
\echo Use "ALTER EXTENSION pgvault UPDATE TO '0.7'" to load this file. \quit
