"""Per-item isolation, under every stage and adapter: the step runner (`steps`: one failing item becomes its
quarantine row), killable worker processes with time and memory limits (`workers`), the item errors and
their content-free descriptions (`errors`), and fault injection for the tests (`faults`)."""
