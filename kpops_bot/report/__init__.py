"""The diff model as a pull request comment (markdown, split to the forge's limit) and as JSON."""
