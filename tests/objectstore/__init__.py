"""Tests of the object store package."""
