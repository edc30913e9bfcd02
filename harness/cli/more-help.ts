// --help of the commands whose code parses no --help of its own (draft, check-source).
export const DRAFT_HELP = `usage: labproof draft POST [--out FILE]

Drafts a scenario from a lab post (a Markdown or plain-text file, or - for standard input):
its commands verbatim, the hosts and namespaces they run on, the outputs it shows; guesses
are marked todo. It reads and writes only: nothing the post says is run.

  --out FILE    write the scenario there (default: standard output)
`

export const CHECK_SOURCE_HELP = `usage: labproof check-source [--docs DIR]... [FILE|ID]...

Checks that every run: step of each scenario not marked added: true is a command of its
document, verbatim and in the document's order. Documents are found beside the scenario, in
--docs folders, LABPROOF_DOCS and the configuration's "docs". Exit code 1 when one drifted.

  --docs DIR    a folder of documents (repeatable)
`
