"""Records and the vocabulary on them: what scanners hand in (model), and the names, versions, targets and
redaction every stage shares."""
