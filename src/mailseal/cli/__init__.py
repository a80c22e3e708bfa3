"""The ``mailseal`` command line: one module per command group, all calling the library's service functions."""
