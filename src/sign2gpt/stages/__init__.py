"""What each rule runs: one function per rule, grouped as workflow/rules/*.smk group the rules;
`sign2gpt.app.rules.RULES` is the table."""
