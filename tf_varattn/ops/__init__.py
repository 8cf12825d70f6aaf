"""Speed machinery kept apart from the paper's modules; each op has an equivalence test
against the plain computation it replaces (``tests/ops/``)."""
