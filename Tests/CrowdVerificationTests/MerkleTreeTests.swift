import CrowdVerification
import Crypto
import Testing

@Suite struct MerkleTreeTests {
    static func leaves(_ n: Int) -> [[UInt8]] {
        (0..<n).map { Array(SHA256.hash(data: [UInt8(truncatingIfNeeded: $0), 7])) }
    }

    @Test func everyLeafProvesAndNoOtherLeafIndexOrProofDoes() {
        for n in 1...12 {
            let leaves = Self.leaves(n)
            let root = MerkleTree.root(leaves)
            for i in 0..<n {
                let proof = MerkleTree.proof(leaves, index: i)
                #expect(MerkleTree.verify(leaf: leaves[i], index: i, count: n, proof: proof, root: root), "n \(n) i \(i)")
                #expect(!MerkleTree.verify(leaf: leaves[i], index: i, count: n, proof: proof + [leaves[0]], root: root))
                if n > 1 {
                    let j = (i + 1) % n
                    #expect(!MerkleTree.verify(leaf: leaves[j], index: i, count: n, proof: proof, root: root))
                    #expect(!MerkleTree.verify(leaf: leaves[i], index: j, count: n, proof: proof, root: root))
                }
            }
        }
    }

    @Test func theRootCommitsToEveryLeafAndTheirOrder() {
        let leaves = Self.leaves(5)
        let root = MerkleTree.root(leaves)
        #expect(MerkleTree.root([leaves[0]]) == leaves[0])
        #expect(MerkleTree.root(leaves.reversed()) != root)
        var changed = leaves
        changed[4][0] ^= 1
        #expect(MerkleTree.root(changed) != root)
        // With the leaf count fixed (the commitment states it), an inner node does not pass as a leaf; leaf hashes
        // themselves come from `StateDigest.leaf` (prefix 0x00), never from the peer.
        let inner = MerkleTree.root(Array(leaves.prefix(2)))
        let shorter = Array(MerkleTree.proof(leaves, index: 0).dropFirst())
        #expect(!MerkleTree.verify(leaf: inner, index: 0, count: 5, proof: shorter, root: root))
    }
}
