// Package browsertest drives the node's web page (package web) in headless Chromium against a
// real in-process devnet: every view is loaded, its content checked against the API, its
// interactions exercised, an accessibility check run in the page, and a screenshot taken
// (docs/screenshots/<view>.png with JAMINAN_SCREENSHOTS=1). It has tests only; docs/WEB.md says
// how to run them.
package browsertest
