import SharedService
import SharedLinks

/// How the creates of one group commit get their outcomes, apart from writing them: a pure
/// value, so that every rule is unit-tested without Postgres.
///
/// The first create of an idempotency key in the group leads it: when the key was stored
/// before, the lead gets that earlier link (the same request) or `422` (another request); else
/// it is written. A later create of the same key follows its lead: the lead's outcome, marked
/// replayed, for the same request, `422` for another. Every other create is written.
struct CreateGroupPlan: Sendable {
    /// What becomes of one create.
    private enum Role: Sendable {
        /// Written, at this place of ``writing``.
        case write(Int)
        /// Decided by the lookup of its key.
        case decided(Result<LinkCreation, APIError>)
        /// Follows the create at this index, which leads its key.
        case follow(Int)
    }

    private let keys: [IdempotencyKey?]
    private var roles: [Role]

    /// The keys to look up: each distinct key of the group once.
    let keysToLookUp: [IdempotencyKey.ID]

    /// The plan of creates with these idempotency keys (nil for a create without one).
    init(keys: [IdempotencyKey?]) {
        var leaders: [IdempotencyKey.ID: Int] = [:]
        var lookups: [IdempotencyKey.ID] = []
        var roles: [Role] = []
        for (index, key) in keys.enumerated() {
            if let id = key?.id {
                if let leader = leaders[id] {
                    roles.append(.follow(leader))
                    continue
                }
                leaders[id] = index
                lookups.append(id)
            }
            roles.append(.write(0))
        }
        self.keys = keys
        self.roles = roles
        self.keysToLookUp = lookups
        number()
    }

    /// Takes in the keys found stored (the request hash and code of each): their leads are
    /// decided and are not written.
    mutating func resolve(stored: [IdempotencyKey.ID: (requestHash: [UInt8], address: LinkAddress)]) {
        for (index, role) in roles.enumerated() {
            guard case .write = role, let key = keys[index], let earlier = stored[key.id] else { continue }
            roles[index] = .decided(
                earlier.requestHash == key.requestHash
                    ? .success(LinkCreation(address: earlier.address, replayed: true)) : .failure(.idempotencyKeyReused)
            )
        }
        number()
    }

    /// The indexes of the creates to write, in the group's order.
    var writing: [Int] {
        roles.indices.filter { if case .write = roles[$0] { true } else { false } }
    }

    /// Every create's outcome, given the outcome of each create of ``writing`` in its order.
    func outcomes(written: [Result<LinkCreation, any Error>]) -> [Result<LinkCreation, any Error>] {
        precondition(written.count == writing.count, "one outcome for each create written")
        func own(_ index: Int) -> Result<LinkCreation, any Error> {
            switch roles[index] {
            case .write(let place): written[place]
            case .decided(let result): result.mapError { $0 }
            case .follow(let leader): own(leader)
            }
        }
        return roles.indices.map { index in
            guard case .follow(let leader) = roles[index] else { return own(index) }
            guard keys[index]?.requestHash == keys[leader]?.requestHash else {
                return .failure(APIError.idempotencyKeyReused)
            }
            return own(leader).map { LinkCreation(address: $0.address, replayed: true) }
        }
    }

    /// Numbers the creates to write by their place among them.
    private mutating func number() {
        var place = 0
        for index in roles.indices {
            guard case .write = roles[index] else { continue }
            roles[index] = .write(place)
            place += 1
        }
    }
}
