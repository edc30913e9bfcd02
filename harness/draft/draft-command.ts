// `labproof draft POST [--out FILE]`: read a post (a file, or `-` for standard input) and write
// a scenario drafted from it. It reads and writes; it runs nothing the post says.
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { draftScenario } from './draft.ts'
import { draftToYaml } from './yaml-writer.ts'

export async function draftCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { out: { type: 'string' } } })
  if (positionals.length !== 1) throw new Error('usage: labproof draft POST [--out FILE] (POST: a Markdown or text file, or - for standard input)')
  const post = positionals[0]!
  const text = post === '-' ? await readStdin() : await readFile(post, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new Error(`cannot read the post ${post}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`)
  })
  const yaml = draftPost(text, post, values.out)
  if (values.out) {
    await writeFile(values.out, yaml)
    process.stderr.write(`labproof: drafted ${values.out} from ${post}; review its todo notes, then: labproof run ${/^id: (.*)$/m.exec(yaml)?.[1]}\n`)
  } else {
    process.stdout.write(yaml)
  }
  return 0
}

/** The scenario text for a post. `source.doc` names the post so that source sync finds it: a
 *  path relative to the scenario file when it is written to one, else the post's file name. */
export function draftPost(text: string, post: string, out?: string): string {
  const doc = post === '-' ? 'stdin' : out ? path.relative(path.dirname(path.resolve(out)), path.resolve(post)) : path.basename(post)
  const draft = draftScenario(text, { doc, fileName: post === '-' ? 'stdin' : path.basename(post) })
  return draftToYaml(draft, [`Drafted by labproof draft from ${post === '-' ? 'standard input' : path.basename(post)}.`])
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}
