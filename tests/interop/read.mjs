// What a JavaScript feed parser makes of feed URLs, as JSON on stdout, for
// tests/e2e/test_interop.py to compare with the articles it served.
//
//   node tests/interop/read.mjs PARSER URL...
//
// PARSER is `rss-parser` or `feed-extractor`. The output is one object:
// {"parser": NAME, "version": VERSION, "documents": {URL: RESULT, ...}}, where RESULT is
// the library's own result, unchanged, or {"error": MESSAGE} when it threw. Each library
// runs with its defaults, except that feed-extractor keeps descriptions whole rather than
// cut at 250 characters.

import { readFileSync } from "node:fs";

import { extract } from "@extractus/feed-extractor";
import Parser from "rss-parser";

/** The installed version of a package (their exports do not all include package.json). */
const version = (name) =>
  JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url))).version;

const PARSERS = {
  "rss-parser": {
    version: version("rss-parser"),
    read: (url) => new Parser().parseURL(url),
  },
  "feed-extractor": {
    version: version("@extractus/feed-extractor"),
    read: (url) => extract(url, { descriptionMaxLen: 0 }),
  },
};

const [name, ...urls] = process.argv.slice(2);
const parser = PARSERS[name];
if (parser === undefined || urls.length === 0) {
  process.stderr.write(`usage: read.mjs {${Object.keys(PARSERS).join(",")}} URL...\n`);
  process.exit(2);
}

const documents = {};
for (const url of urls) {
  try {
    documents[url] = await parser.read(url);
  } catch (error) {
    documents[url] = { error: String(error?.message ?? error) };
  }
}
process.stdout.write(JSON.stringify({ parser: name, version: parser.version, documents }));
process.stdout.write("\n");
