"""One module per `signd` subcommand: NAME, HELP, add_arguments(parser), run(args) -> int.
Keep them thin: parse, call the library, print."""
