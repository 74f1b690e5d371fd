"""The one exception type that means "the user asked for something we cannot do": the CLI
prints its message on one line and exits non-zero, never a traceback."""


class UserError(Exception):
    pass
