// Package api is the node's HTTP API (DESIGN.md §5): the handlers, their OpenAPI document
// (openapi.json, embedded and served at /v1/openapi.json), operator-token and RFC 9421
// request-signature authentication, and the access log of workers' data.
//
// The handlers parse, call and encode. What they need from a node is the Backend interface;
// the node implements it over its store and producer, and MemBackend implements it in memory
// (a ledger.MemState that finalises every submission at once) for tests and the in-memory
// devnet. SignRequest is the client side of the signatures, for `jaminan query` and `submit`.
//
// Decisions (who may call what, what is logged, limits) are in DESIGN.md beside this file.
package api
