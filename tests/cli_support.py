"""Argument lists shared by the command-line tests: searches and trainings of about a second."""

from __future__ import annotations


# The smallest network on the smallest data set: digits, one epoch, one cell of four filters.
SMALL = ["--dataset", "digits", "--epochs", "1", "--cells", "1", "--filters", "4"]
# SMALL on two batches of 32 images per epoch: a trial or a training of about a second.
TINY = [*SMALL, "--batch-size", "32", "--limit-train-batches", "2"]
# TINY for search, without the picture of its cells that each trial would otherwise save.
BARE_TINY = [*TINY, "--artifact-dir", ""]
# BARE_TINY on 40 batches: trials of a few seconds, so a signal sent to a search process
# once a trial has started lands inside that trial's training.
SLOW_TINY = [*SMALL, "--batch-size", "32", "--limit-train-batches", "40", "--artifact-dir", ""]
