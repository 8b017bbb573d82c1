"""Errors caused by what a user asked for (a wrong name, a file that does not fit), not by a bug.

``UserError`` is the one base class every package of the project uses for such errors: the
command-line tools print its message as one ``error:`` line, and let any other exception keep its
traceback. It lives here, free of Keras and TensorFlow imports, so that the model package can mark
its own errors and every other package can import it cheaply.
"""


class UserError(Exception):
    """The user's input is wrong; the message says what to change."""


class UnknownBackboneError(UserError, ValueError):
    """A backbone name or width that the registry does not know."""


class WeightsMismatchError(UserError, ValueError):
    """A weights file does not fit the model; the message says what the file appears to hold."""


class ModelConfigError(UserError, ValueError):
    """Model options that cannot build a model (input size, class count, anchor layout)."""
