// Package hostile holds the hostile parties of the torture suite (issue 8): a registered member
// that misbehaves over libp2p (RunRogue), a stranger that dials and spams (RunNonMember), HTTP
// clients that send garbage (RunHTTPGarbage) and clients that hold connections open
// (RunSlowClients). Each runs until its context ends and reports what it attempted in a Stats.
//
// They use only what any outsider has: a libp2p host of their own, the public protocol IDs and
// topic names (p2p.BlocksTopic, p2p.SyncProtocol, …), HTTP. They never call into a node, so the
// same code runs against an in-process devnet (the tests here) and against real processes (the
// torture harness).
package hostile
