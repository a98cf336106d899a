// Renders every case of cases.json with shields.io's badge-maker into <name>.svg beside this script.
// A developer tool (the tests never run node): see README.md in this directory.
//
//   node tests/app/badges/golden/make_goldens.mjs <path to node_modules/badge-maker>

import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const badgeMakerDir = process.argv[2]
if (!badgeMakerDir) {
  console.error('usage: node make_goldens.mjs <path to node_modules/badge-maker>')
  process.exit(2)
}
const pkg = JSON.parse(readFileSync(join(badgeMakerDir, 'package.json'), 'utf8'))
const { makeBadge } = await import(pathToFileURL(join(badgeMakerDir, 'lib', 'index.js')).href)

const here = dirname(fileURLToPath(import.meta.url))
const cases = JSON.parse(readFileSync(join(here, 'cases.json'), 'utf8'))
for (const { name, label, message, color } of cases) {
  writeFileSync(join(here, `${name}.svg`), makeBadge({ label, message, color, style: 'flat' }))
}
console.error(`${cases.length} badges rendered with badge-maker ${pkg.version}`)
