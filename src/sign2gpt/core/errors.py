"""Errors that name the bad item, so a user can find and fix it without a traceback."""


class Sign2GPTError(Exception):
    """Base class: an expected failure with a message meant for the user."""


class DataError(Sign2GPTError):
    """A bad input item (video, frame folder, CSV row, text file, checkpoint)."""

    def __init__(self, item: str, problem: str):
        self.item = item
        self.problem = problem
        super().__init__(f"{item}: {problem}")


class ConfigError(Sign2GPTError):
    """A configuration value that cannot work (names the key)."""
