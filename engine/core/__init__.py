"""The floor every room stands on: the clock (the one source of "now"), configuration, the database
engine and transactions, the tables, the one errors module, and schema migration.

Callers import the module they need: ``from engine.core import clock, db, errors``.
"""
