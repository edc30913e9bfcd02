// A web page scraped to text often loses the line break between a code block's last line and the
// next heading: `ip link set vxlan0 upVerify VXLAN Interface`. The drafter splits such a line;
// the source check accepts a command that runs into a heading this way.

/** Small words a heading keeps in lower case ("Delete the VXLAN Interface"). */
const SMALL_WORDS = /^(a|an|the|with|of|and|or|for|to|in|on|vs\.?|via|by|from)$/

/** Where a heading may begin glued to what is before it: after a lower-case letter, a digit or
 *  `)`, a capital; after an all-capitals word (`ACCEPTSet`), a capital and a lower-case letter. */
export const GLUE_JUNCTION = /(?<=[a-z0-9)])(?=[A-Z])|(?<=[A-Z]{2})(?=[A-Z][a-z])/g

/** `text` is a title-case heading of two words or more. */
export function isTitleCaseHeading(text: string): boolean {
  const words = text.trim().split(/\s+/)
  return words.length >= 2 && /[a-z]/.test(text) &&
    words.every((w, i) => /^\(?[A-Z0-9][\w/().-]*\)?$/.test(w) || (i > 0 && SMALL_WORDS.test(w)))
}

/** `before` and `after` are the two sides of a glue: `before` ends and `after` begins as a
 *  junction, and `after` is a heading. */
export function gluedAt(before: string, after: string): boolean {
  const joined = before + after
  GLUE_JUNCTION.lastIndex = 0
  return [...joined.matchAll(GLUE_JUNCTION)].some((m) => m.index === before.length) && isTitleCaseHeading(after)
}
