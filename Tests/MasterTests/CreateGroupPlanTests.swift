import SharedLinks
import SharedService
import Testing
@testable import Master

/// The rules of a group commit's outcomes (``CreateGroupPlan``), without Postgres.
@Suite struct CreateGroupPlanTests {
    private func key(_ name: String, body: UInt8 = 1, scope: String = "") -> IdempotencyKey {
        IdempotencyKey(scope: scope, key: name, requestHash: [body])
    }

    private func code(_ result: Result<LinkCreation, any Error>) -> LinkCreation? { try? result.get() }

    private func apiCode(_ result: Result<LinkCreation, any Error>) -> String? {
        guard case .failure(let error) = result else { return nil }
        return (error as? APIError)?.code
    }

    @Test func createsWithoutKeysAreAllWrittenAndGetTheirOwnOutcomes() {
        let plan = CreateGroupPlan(keys: [nil, nil, nil])
        #expect(plan.keysToLookUp.isEmpty)
        #expect(plan.writing == [0, 1, 2])
        let outcomes = plan.outcomes(written: [
            .success(LinkCreation(address: LinkAddress(code: "a"), replayed: false)),
            .failure(APIError.aliasTaken("b")),
            .success(LinkCreation(address: LinkAddress(code: "c"), replayed: false)),
        ])
        #expect(code(outcomes[0])?.address.code == "a" && apiCode(outcomes[1]) == "alias_taken")
        #expect(code(outcomes[2]) == LinkCreation(address: LinkAddress(code: "c"), replayed: false))
    }

    @Test func aKeyIsLookedUpOnceAndItsLaterCreatesFollowTheFirst() {
        let plan = CreateGroupPlan(keys: [key("k"), nil, key("k"), key("k", body: 2), key("k", scope: "other")])
        #expect(plan.keysToLookUp == [key("k").id, key("k", scope: "other").id])
        #expect(plan.writing == [0, 1, 4])
        let outcomes = plan.outcomes(written: [
            .success(LinkCreation(address: LinkAddress(code: "first"), replayed: false)),
            .success(LinkCreation(address: LinkAddress(code: "plain"), replayed: false)),
            .success(LinkCreation(address: LinkAddress(code: "scoped"), replayed: false)),
        ])
        #expect(code(outcomes[0]) == LinkCreation(address: LinkAddress(code: "first"), replayed: false))
        #expect(
            code(outcomes[2]) == LinkCreation(address: LinkAddress(code: "first"), replayed: true),
            "the same request: a replay")
        #expect(apiCode(outcomes[3]) == "idempotency_key_reused", "another request under the key")
        #expect(
            code(outcomes[4]) == LinkCreation(address: LinkAddress(code: "scoped"), replayed: false),
            "keys are per scope")
    }

    @Test func aFollowerSharesItsLeadersFailure() {
        let plan = CreateGroupPlan(keys: [key("k"), key("k")])
        let outcomes = plan.outcomes(written: [.failure(APIError.noFreeCode)])
        #expect(apiCode(outcomes[0]) == apiCode(outcomes[1]))
        #expect(apiCode(outcomes[1]) != nil)
    }

    @Test func aStoredKeyDecidesItsCreatesWithoutWritingThem() {
        var plan = CreateGroupPlan(keys: [key("same"), nil, key("other", body: 9), key("same")])
        plan.resolve(stored: [
            key("same").id: ([1], LinkAddress(code: "earlier")), key("other").id: ([1], LinkAddress(code: "theirs")),
        ])
        #expect(plan.writing == [1], "only the create without a stored key is written")
        let outcomes = plan.outcomes(written: [
            .success(LinkCreation(address: LinkAddress(code: "new"), replayed: false))
        ])
        #expect(code(outcomes[0]) == LinkCreation(address: LinkAddress(code: "earlier"), replayed: true))
        #expect(code(outcomes[1]) == LinkCreation(address: LinkAddress(code: "new"), replayed: false))
        #expect(apiCode(outcomes[2]) == "idempotency_key_reused", "a stored key of another request")
        #expect(code(outcomes[3]) == LinkCreation(address: LinkAddress(code: "earlier"), replayed: true))
    }
}
