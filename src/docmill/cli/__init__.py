"""The `docmill` command line: `main` holds the Typer app and the run commands; one module per command group
(`audit`, `index`, `ops`, `parse`, `quarantine`, `snapshot`), `common` what they share."""
