"""Test doubles for relay and for the people who build on it."""
