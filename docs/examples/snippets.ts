// Keeps the code shown in README.md and docs/*.md identical to the example files that tests run.
// A code block preceded by `<!-- snippet: docs/examples/FILE.ts#REGION -->` must equal that region of
// the file (`// #region REGION` ... `// #endregion REGION`), dedented; `#a+b` joins two regions with a
// blank line; no `#` means the whole file. __tests__/docs.examples.test.ts checks it.
//   node --import tsx docs/examples/snippets.ts          report blocks that differ
//   node --import tsx docs/examples/snippets.ts --write  rewrite them from the example files
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');

/** The markdown files whose snippets are kept in sync. */
export function documentFiles(): string[] {
  const docs = fs.readdirSync(path.join(root, 'docs')).filter((name) => name.endsWith('.md')).map((name) => path.join('docs', name));
  return ['README.md', ...docs].filter((file) => fs.existsSync(path.join(root, file)));
}

const markerLine = /^\s*\/\/ #(region|endregion)\b/;

function dedent(lines: string[]): string {
  const indents = lines.filter((line) => line.trim() !== '').map((line) => /^ */.exec(line)![0].length);
  const common = indents.length === 0 ? 0 : Math.min(...indents);
  return lines.map((line) => line.slice(common)).join('\n').replace(/\s+$/, '');
}

/** The text a snippet reference stands for. */
export function resolveSnippet(reference: string): string {
  const [file, regions] = reference.split('#') as [string, string | undefined];
  const source = fs.readFileSync(path.join(root, file), 'utf8').split('\n');
  if (regions === undefined) return dedent(source.filter((line) => !markerLine.test(line)));
  return regions.split('+').map((region) => {
    const start = source.findIndex((line) => line.trim() === `// #region ${region}`);
    if (start === -1) throw new Error(`${file} has no region "${region}".`);
    const end = source.findIndex((line, index) => index > start && (line.trim() === `// #endregion ${region}` || line.trim() === '// #endregion'));
    if (end === -1) throw new Error(`${file}: region "${region}" is not closed.`);
    return dedent(source.slice(start + 1, end).filter((line) => !markerLine.test(line)));
  }).join('\n\n');
}

export interface Snippet {
  document: string;
  reference: string;
  /** Line (0-based) of the opening fence and of the closing fence. */
  openLine: number;
  closeLine: number;
  shown: string;
}

/** Every code block of `document` (repo-relative), with the snippet reference before it, if any. */
export function codeBlocks(document: string): (Omit<Snippet, 'reference'> & { reference: string | null; language: string })[] {
  const lines = fs.readFileSync(path.join(root, document), 'utf8').split('\n');
  const blocks = [];
  for (let index = 0; index < lines.length; index++) {
    const open = /^```(\w*)/.exec(lines[index]!);
    if (open === null) continue;
    const close = lines.findIndex((line, at) => at > index && line.startsWith('```'));
    // An unclosed fence is a mistake in the page: say where, rather than read the page again forever.
    if (close === -1) throw new Error(`${document}:${index + 1}: this code block is never closed`);
    let previous = index - 1;
    while (previous >= 0 && lines[previous]!.trim() === '') previous--;
    const marker = previous >= 0 ? /^<!-- snippet: (\S+) -->$/.exec(lines[previous]!.trim()) : null;
    blocks.push({
      document,
      language: open[1]!,
      reference: marker === null ? null : marker[1]!,
      openLine: index,
      closeLine: close,
      shown: lines.slice(index + 1, close).join('\n'),
    });
    index = close;
  }
  return blocks;
}

/** Rewrites every snippet block of `document` from its example file; returns how many changed. */
export function writeSnippets(document: string): number {
  const file = path.join(root, document);
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  let changed = 0;
  for (const block of codeBlocks(document).reverse()) {
    if (block.reference === null) continue;
    const wanted = resolveSnippet(block.reference);
    if (wanted === block.shown) continue;
    lines.splice(block.openLine + 1, block.closeLine - block.openLine - 1, ...wanted.split('\n'));
    changed++;
  }
  if (changed > 0) fs.writeFileSync(file, lines.join('\n'));
  return changed;
}

if (require.main === module) {
  const write = process.argv.includes('--write');
  let stale = 0;
  for (const document of documentFiles()) {
    if (write) {
      const changed = writeSnippets(document);
      if (changed > 0) console.log(`${document}: rewrote ${changed} snippet(s)`);
      continue;
    }
    for (const block of codeBlocks(document)) {
      if (block.reference !== null && resolveSnippet(block.reference) !== block.shown) {
        stale++;
        console.log(`${document}:${block.openLine + 1} differs from ${block.reference}`);
      }
    }
  }
  if (!write && stale > 0) process.exitCode = 1;
}
