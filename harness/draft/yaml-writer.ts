// Write a draft as a scenario file: each step commented with the post's line it came from, and
// each guess as a `todo:` in its note, so a reviewer can go through them one by one.
import { Document, isMap, isSeq, type YAMLMap } from 'yaml'
import { isRunDraft, type Draft } from './draft.ts'

export function draftToYaml(draft: Draft, header: string[] = []): string {
  const steps = draft.steps.map((s) => {
    if (!isRunDraft(s)) return { section: s.section }
    const notes = [...s.notes, ...s.todos.map((t) => `todo: ${t}`)]
    return {
      on: s.on,
      run: s.run,
      ...(s.input?.length ? { input: `${s.input.join('\n')}\n` } : {}),
      ...(s.expect && Object.keys(s.expect).length ? { expect: s.expect } : {}),
      ...(s.requires ? { requires: s.requires } : {}),
      ...(s.erratum ? { erratum: s.erratum } : {}),
      ...(notes.length ? { note: notes.join('; ') } : {}),
    }
  })
  const body = {
    id: draft.id,
    title: draft.title,
    source: { doc: draft.doc, section: draft.section },
    ...(draft.underlay ? { underlay: draft.underlay } : {}),
    ...(draft.hosts ? { hosts: draft.hosts } : {}),
    steps,
  }
  const doc = new Document(body)
  const lead = [
    ...header,
    'A draft: every command is the post\'s, verbatim and in its order. Review each `todo:`,',
    'run it (labproof run ID), and mark what you add with `added: true`.',
    ...draft.todos.map((t) => `todo: ${t}`),
  ]
  doc.commentBefore = lead.map((l) => ` ${l}`).join('\n')
  const seq = doc.get('steps', true)
  if (isSeq(seq)) {
    seq.items.forEach((item, i) => {
      if (isMap(item)) (item as YAMLMap).commentBefore = ` post line ${draft.steps[i]!.line}`
    })
  }
  return doc.toString({ lineWidth: 0, minContentWidth: 0 })
}
