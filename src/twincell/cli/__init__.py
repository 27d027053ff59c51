"""Command-line interface (typer). Holds no logic: every command calls the library."""
