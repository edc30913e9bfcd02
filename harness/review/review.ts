// The review of each scenario's document: merged run records of every backend (records.ts), the
// document where it is at hand (document.ts), and the verdicts (verdicts.ts).
import type { LoadedScenario } from '../scenario/loader.ts'
import { readDocument } from './document.ts'
import { readMergedRecords } from './records.ts'

export { defaultResultDir } from './records.ts'
import { reviewDocument, type DocumentReview } from './verdicts.ts'

export interface ReviewOptions {
  /** Result folders whose run records are merged (output folders, or reports/ folders). */
  resultDirs: string[]
  /** Where documents are looked up by name. */
  docFolders: string[]
}

export async function reviewScenarios(scenarios: LoadedScenario[], o: ReviewOptions): Promise<DocumentReview[]> {
  const records = readMergedRecords(o.resultDirs)
  return Promise.all(scenarios.map(async (s) => reviewDocument(s, records.get(s.id), await readDocument(s, o.docFolders))))
}

/** A claim contradicted or a command failed: the review has found a scenario in doubt. */
export function reviewFailed(reviews: DocumentReview[]): boolean {
  return reviews.some((r) => r.rows.some((row) => row.verdict === 'contradicted' || row.verdict === 'failed'))
}
