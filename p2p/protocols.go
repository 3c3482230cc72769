package p2p

import "github.com/libp2p/go-libp2p/core/protocol"

// Protocol IDs and topic names all carry the network name, so nodes of two networks (a devnet
// and production, say) never mesh or exchange data even if they can reach each other.

// SyncProtocol returns the sync protocol ID of a network.
func SyncProtocol(network string) protocol.ID { return syncProtocol(network) }

func syncProtocol(network string) protocol.ID {
	return protocol.ID("/jaminan/" + network + "/sync/1")
}

// gossipProtocol is the private gossipsub router protocol (gossipsub v1.2 semantics: mesh, PX
// and IDONTWANT), never one of the public /meshsub IDs.
func gossipProtocol(network string) protocol.ID {
	return protocol.ID("/jaminan/" + network + "/meshsub/1.2.0")
}

// BlocksTopic returns the block topic of a network.
func BlocksTopic(network string) string { return "/jaminan/" + network + "/blocks/1" }

// FinalityTopic returns the topic of finality votes and witness cosignatures of a network.
func FinalityTopic(network string) string { return "/jaminan/" + network + "/finality/1" }

// SnapshotsTopic returns the topic of snapshot attestation shares of a network. It is a topic of
// its own, not the finality topic, so that nodes of a build without snapshots, which do not
// subscribe to it, never see (and reject) a share.
func SnapshotsTopic(network string) string { return "/jaminan/" + network + "/snapshots/1" }
