"""Tests of `matcher.evaluation`."""
