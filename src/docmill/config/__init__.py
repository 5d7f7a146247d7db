"""Configuration: the YAML settings and their models (`settings`, connector models in `connectors`), run
parameters (`params`), include/exclude globs (`globs`), the offline defaults (`offline`) and the generated
reference (`doc`). Imports nothing else of docmill: every layer may read it."""
