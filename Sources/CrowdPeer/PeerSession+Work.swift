import CrowdClient
import CrowdCodec
import CrowdData
import CrowdEngine
import CrowdProtocol
import Foundation

/// The operations `fetchArtifacts`, `train` and `encode` of `PeerWorkMachine`.
extension PeerSession {
    /// A request cancelled by a stop or a suspension (the event to report instead).
    struct Interrupted: Error {
        let event: PeerWorkMachine.Event
    }

    /// Downloads and decodes the lease's model and shards; reports `artifactsFetched`, or what interrupted it.
    func fetchArtifacts(_ lease: Lease) async -> PeerWorkMachine.Event {
        if let interruption = gate() { return interruption }
        do {
            try await fetchInputs(lease)
            return .artifactsFetched
        } catch let interrupted as Interrupted {
            return interrupted.event
        } catch {
            return .failed(PeerWorkMachine.Failure(error))
        }
    }

    /// Trains the lease whose inputs are fetched; reports how it ended.
    func runTraining(_ lease: Lease) async -> PeerWorkMachine.Event {
        do {
            guard let work = try await trainFetched(lease) else { return .trainingStopped(byShutdown: stop.isSet) }
            held.work = work
            return .trainingFinished(samplesPerSecond: work.run.samplesPerSecond)
        } catch {
            return .failed(PeerWorkMachine.Failure(error))
        }
    }

    /// Encodes the trained lease; reports `encoded` with the update now in `pending.bin`.
    func encodeHeld(_ lease: Lease) -> PeerWorkMachine.Event {
        defer { held.work = nil }
        guard let work = held.work else { return .failed(.local("lease \(lease.leaseID.prefix(8)) has no trained update")) }
        do {
            let pending = try encode(work, lease: lease)
            held.pending = pending
            return .encoded(pending.info, holdsTrajectory: held.trajectory?.leaseID == lease.leaseID)
        } catch {
            return .failed(.local("\(error)"))
        }
    }

    /// Fetches and trains `lease` in one go (no machine): nil when stopped early.
    func train(_ lease: Lease) async throws -> LeaseWork? {
        setState(.downloading, lease: lease)
        try await fetchInputs(lease)
        setState(.training, lease: lease)
        return try await trainFetched(lease)
    }

    /// The verified bytes of a model or shard of `lease`: from the cache (checked by hash), or downloaded (a shard
    /// compressed, inflated to exactly its `shardBytes`), verified and cached; the cache's trim keeps `lease`'s files.
    func fetch(_ kind: ArtifactCache.Kind, _ digest: String, of lease: Lease, expectedBytes: Int? = nil)
        async throws -> Data
    {
        let client = self.client
        let keeping = Set([lease.modelVersion] + lease.shardIDs)
        if kind == .model { return try await fetchModel(digest, keeping: keeping) }
        let fetched = try await cache.fetch(kind, digest, expectedBytes: expectedBytes, keeping: keeping) {
            let raced = try await race {
                try await client.compressedShard(id: digest, expectedBytes: expectedBytes)
            }
            guard case .done(let data) = raced else {
                if case .interrupted(let event) = raced { throw Interrupted(event: event) }
                throw Interrupted(event: .stop)
            }
            // Counted as they travel, even if the body is then refused.
            leaseBytesDown += data.count
            suspend.record(bytes: data.count)
            status.lifetime.bytesDown += data.count
            return data
        }
        return fetched.data
    }

    /// Model `version` through the `ModelFetcher` (signed manifest; the cheaper of round deltas and missing chunks;
    /// resumable downloads). Bytes count as they arrive, also when the fetch is interrupted.
    func fetchModel(_ version: String, keeping: Set<String>) async throws -> Data {
        if let lastModel, lastModel.version == version { return lastModel.bytes }
        if let cached = cache.get(.model, version) {
            lastModel = (version, cached)
            return cached
        }
        guard let base = fetcher else { throw PeerError(modelFetcherProblem ?? "no model fetcher") }
        let arrived = ModelFetcher.Counter()
        let fetcher = ModelFetcher(
            cache: base.cache, verifier: base.verifier, campaign: base.campaign, source: base.source,
            onBytes: { n in
                base.onBytes(n)
                arrived.add(n)
            }, held: lastModel)
        defer {
            leaseBytesDown += arrived.value
            status.lifetime.bytesDown += arrived.value
        }
        let raced = try await race { try await fetcher.fetch(version: version, keeping: keeping) }
        guard case .done(let fetched) = raced else {
            if case .interrupted(let event) = raced { throw Interrupted(event: event) }
            throw Interrupted(event: .stop)
        }
        lastModel = (version, fetched.data)
        if fetched.route != .cache {
            logger.info(
                "model fetched",
                metadata: ["model": "\(version.prefix(12))", "route": "\(fetched.route.rawValue)",
                           "bytes": "\(fetched.downloadedBytes)"])
        }
        return fetched.data
    }

    /// The uncompressed size the lease gives for its shard `index` (nil when it gives none or an impossible one: then
    /// `CompressedShard.maxFileBytes` bounds the inflation).
    static func shardBytes(_ lease: Lease, _ index: Int) -> Int? {
        guard let sizes = lease.shardBytes, sizes.count == lease.shardIDs.count,
              (1...CompressedShard.maxFileBytes).contains(sizes[index])
        else { return nil }
        return sizes[index]
    }

    /// Downloads (or takes from the cache) and decodes the model and shards, and checks the memory limit.
    func fetchInputs(_ lease: Lease) async throws {
        held.inputs = nil
        let modelBytes = try await fetch(.model, lease.modelVersion, of: lease)
        // `fetch` returns only bytes that hash to the lease's model version (cache or download).
        let checkpoint = try Checkpoint.decode(
            modelBytes, path: "model \(lease.modelVersion.prefix(12))", digestVerified: true)
        try MemoryGuard.check(checkpoint, lease: lease, live: live, monitor: suspend)
        var shards: [ShardPayload] = []
        for (index, id) in lease.shardIDs.enumerated() {
            if let k = decodedShards.firstIndex(where: { $0.id == id }) {
                let known = decodedShards.remove(at: k)
                decodedShards.append(known)
                shards.append(known.payload)
                continue
            }
            let data = try await fetch(.shard, id, of: lease, expectedBytes: Self.shardBytes(lease, index))
            // `fetch` returns only bytes that hash to `id` (the cache checks on read, a download before it is kept),
            // so the decoder does not hash the shard again.
            let payload = try ShardFile.decode(data, name: "shard \(id.prefix(12))", expectedID: nil)
            // The least recently used decoded shard makes room (not all of them: a peer cycling over a few more
            // shards than it keeps would otherwise read and decode every one again each lease).
            if decodedShards.count >= Self.keptDecodedShards {
                decodedShards.removeFirst(decodedShards.count - Self.keptDecodedShards + 1)
            }
            decodedShards.append((id, payload))
            shards.append(payload)
        }
        held.inputs = (lease.leaseID, checkpoint, shards)
    }

    /// Trains on the fetched inputs, resuming `progress.bin` when it continues this lease; nil when stopped early.
    func trainFetched(_ lease: Lease) async throws -> LeaseWork? {
        guard let inputs = held.inputs, inputs.leaseID == lease.leaseID else {
            throw PeerError("lease \(lease.leaseID.prefix(8)) was not fetched before training")
        }
        held.inputs = nil
        let checkpoint = inputs.checkpoint
        // A SIGHUP may have changed the thread count: it applies from the next lease on.
        ComputeThreads.set(live.current.threads)
        let stop = self.stop
        let payloads = inputs.shards
        let monitor = suspend, base = status, path = paths.status, output = self.output
        let saver = LeaseProgressSaver(path: paths.progress, logger: logger)
        var resume = savedProgress(for: lease)
        let carried = carriedOptimizer(for: lease, checkpoint: checkpoint)
        func run(from: LeaseProgress?) async throws -> LeaseWork? {
            try await Self.onThread {
                try LeaseTrainer.train(
                    lease: lease, checkpoint: checkpoint, shards: payloads, resume: from, carriedOptimizer: carried,
                    saveEvery: Self.progressSaveSeconds,
                    // Fresher than holdWhileSuspended's check, so this one sees a pause first and saves.
                    saveNow: { monitor.evaluate(maxAge: SuspendMonitor.pollInterval / 5).stopsTraining },
                    save: saver.save,
                    shouldStop: {
                        Self.holdWhileSuspended(
                            monitor: monitor, stop: stop, status: base, path: path, deadline: lease.deadline,
                            output: output)
                    })
            }
        }
        let work: LeaseWork?
        do {
            work = try await run(from: resume)
        } catch let mismatch as LeaseProgressMismatch {
            logger.warning("\(mismatch)")
            output("ignored progress.bin (\(mismatch)): training lease \(lease.leaseID.prefix(8)) from its start")
            LeaseProgressFile.remove(paths.progress)
            resume = nil
            work = try await run(from: nil)
        }
        if work == nil { reportStopped(lease, saver: saver, resumedAt: resume?.steps) }
        return work
    }

    /// Runs CPU-bound work on its own thread so the async pool keeps serving signals and I/O.
    static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                // Linux keeps niceness per thread: this one must be as polite as the rest of the daemon.
                Niceness.applyToCurrentThread()
                continuation.resume(with: Result { try body() })
            }
            thread.stackSize = 16 << 20
            thread.start()
        }
    }

    /// Encodes Δ with error feedback and writes `pending.bin` (the crash-safe hand-off to upload).
    func encode(_ work: LeaseWork, lease: Lease) throws -> PendingUpdate {
        var feedback = ErrorFeedback(count: work.delta.count)
        do {
            if let saved = try ResidualFile.read(from: paths.residual), saved.schemaHash == work.schemaHash,
               saved.residual.count == work.delta.count {
                feedback.residual = saved.residual
            }
        } catch {
            logger.warning("\(error); starting from a zero residual")
        }
        guard let base = Hex.bytes(lease.modelVersion), base.count == 32 else {
            throw PeerError("model version '\(lease.modelVersion)' is not a SHA-256 hex digest")
        }
        let codec = try CodecSpec(parsing: lease.codec)
        var header = EnvelopeHeader(
            schemaHash: work.schemaHash, round: lease.round, baseModel: base, codec: codec,
            elementCount: work.delta.count)
        if let trajectory = work.trajectory {
            guard let commitment = trajectory.commitment(samples: lease.samples) else {
                throw PeerError("lease \(lease.leaseID.prefix(8))'s trajectory is incomplete; it cannot be committed")
            }
            header.commitment = commitment
            held.trajectory = (lease.leaseID, trajectory)
        } else {
            held.trajectory = nil
        }
        let envelope = try feedback.encode(work.delta, header: header, level: Int32(clamping: lease.codecLevel))
        let info = PendingUpdate.Info(
            leaseID: lease.leaseID, round: lease.round, modelVersion: lease.modelVersion, schemaHash: work.schemaHash,
            samples: lease.samples, loss: work.run.meanLoss, trainSeconds: work.run.seconds,
            deadline: lease.deadline, finishedAt: now())
        let pending = PendingUpdate(info: info, envelope: envelope, residualAfter: feedback.residual)
        try pending.write(to: paths.pending)
        // Only now is the lease's progress obsolete: a crash before this line resumes it, after it re-sends.
        LeaseProgressFile.remove(paths.progress)
        saveInnerState(work, lease: lease)
        return pending
    }

    /// The previous lease's optimizer state when it applies to `lease` (`InnerStateFile.state(for:)`); a stale,
    /// foreign or damaged file is removed.
    func carriedOptimizer(for lease: Lease, checkpoint: Checkpoint) -> OptimizerState? {
        do {
            let written = writtenInnerState
            writtenInnerState = nil
            guard let saved = try written ?? InnerStateFile.read(from: paths.innerState) else { return nil }
            if let state = saved.state(for: lease, schemaHash: checkpoint.schemaHash, count: checkpoint.params.count) {
                return state
            }
            if lease.inner.keepState == true {
                output("starting lease \(lease.leaseID.prefix(8)) with a fresh optimizer (the saved one is from round "
                    + "\(saved.round), another model or other settings)")
            }
        } catch {
            logger.warning("\(error)")
        }
        AtomicFileWriter.remove(paths.innerState)
        return nil
    }

    /// Keeps the finished lease's optimizer state for the next lease when the campaign asks for it.
    func saveInnerState(_ work: LeaseWork, lease: Lease) {
        writtenInnerState = nil
        guard lease.inner.keepState == true, let state = work.optimizerState else {
            AtomicFileWriter.remove(paths.innerState)
            return
        }
        do {
            let file = InnerStateFile(schemaHash: work.schemaHash, round: lease.round, settings: lease.inner, state: state)
            try file.write(to: paths.innerState)
            writtenInnerState = file
        } catch {
            logger.warning("cannot save the inner optimizer state (\(error)); the next lease starts a fresh one")
        }
    }
}
