"""Tests of the processing part: the ASL interpreter (test_asl_*)."""
