import Foundation

/// Why the daemon is not working right now, in the order `peer status` lists them.
public enum SuspendReason: String, Codable, Sendable, CaseIterable, Comparable {
    /// `crowdtrain peer pause` (until a time or indefinitely).
    case paused
    /// Idle-only mode and someone used the computer within the last N minutes.
    case userActive
    /// Idle-only mode, but the idle probe cannot tell (no loginctl/logind, no user session): idle-only fails
    /// closed, so a volunteer who asked for "only when I'm away" is never trained on while at the keyboard.
    case idleUnknown
    /// AC-only mode and the computer runs on battery.
    case onBattery
    /// Outside the allowed hours of the day.
    case outsideHours
    /// The daily data cap is used up (resets at local midnight).
    case quotaReached
    /// The campaign's model needs more memory than `limits.memoryLimitBytes` (until the limit is raised).
    case memoryLimit

    public static func < (a: SuspendReason, b: SuspendReason) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Whether the reason also stops training in the middle of a lease. A used-up data cap only stops
    /// traffic: local training sends nothing, so a lease already downloaded is finished.
    public var stopsTraining: Bool { self != .quotaReached }
}

/// Allowed hours of the day, `start-end` in local time; `22-7` wraps midnight (22:00 to 06:59).
public struct HourWindow: Sendable, Equatable, CustomStringConvertible {
    public var start: Int
    public var end: Int

    /// - Throws: `PeerError` unless `text` is `H-H` with hours 0…24 and start ≠ end.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let s = Int(parts[0]), let e = Int(parts[1]), (0...24).contains(s),
              (0...24).contains(e), s % 24 != e % 24
        else {
            throw PeerError("hours '\(text)' must look like 9-17 or 22-7 (start-end, whole hours 0-24, start ≠ end)")
        }
        start = s % 24
        end = e % 24
    }

    /// Whether the local hour `hour` (0…23) is allowed.
    public func contains(hour: Int) -> Bool {
        start < end ? (start <= hour && hour < end) : (hour >= start || hour < end)
    }

    public var description: String { "\(start)-\(end)" }
}

/// What the volunteer allows (flags of `peer run`).
public struct SuspendSettings: Sendable, Equatable {
    /// Run only after this many minutes without user input (nil: always).
    public var idleOnlyMinutes: Int?
    /// Run only on AC power.
    public var acOnly: Bool
    /// Allowed hours of the day (nil: all day).
    public var hours: HourWindow?
    /// Bytes up plus down per local calendar day (nil: unlimited).
    public var dailyDataCap: Int?

    public init(idleOnlyMinutes: Int? = nil, acOnly: Bool = false, hours: HourWindow? = nil, dailyDataCap: Int? = nil) {
        self.idleOnlyMinutes = idleOnlyMinutes; self.acOnly = acOnly; self.hours = hours
        self.dailyDataCap = dailyDataCap
    }
}

/// What the user-idle probe found.
public enum IdleState: Sendable, Equatable {
    /// Idle since this Unix time.
    case idle(since: Double)
    /// Someone is using the computer.
    case active
    /// No way to tell (no loginctl/logind, no user session); the text says why. In idle-only mode this
    /// suspends work (`SuspendReason.idleUnknown`).
    case unavailable(String)
}

/// The suspend-reason state machine: pure, with the time and the probes' findings passed in.
///
/// The only state it keeps is the data used during the current local day (`record`), which resets at
/// local midnight. `evaluate` returns the reasons that apply and the earliest time one of them could
/// change by the clock alone (a probe can change any time, so the daemon also polls).
public struct SuspendPolicy: Sendable, Equatable {
    public var settings: SuspendSettings
    /// The time zone of "hours of the day" and of "midnight".
    public var timeZone: TimeZone
    /// Bytes sent and received since `dayStart`.
    public private(set) var bytesToday = 0
    /// Unix time of the local midnight starting the day `bytesToday` counts.
    public private(set) var dayStart: Double = -.infinity

    public init(settings: SuspendSettings, timeZone: TimeZone = .current) {
        self.settings = settings
        self.timeZone = timeZone
    }

    /// The outcome of one evaluation.
    public struct Decision: Sendable, Equatable {
        /// Reasons that apply, ordered; empty means run.
        public var reasons: [SuspendReason]
        /// Earliest Unix time a reason could end or start by the clock alone (nil: none scheduled).
        public var nextChange: Double?
        /// Things the volunteer should know (e.g. "power source unknown", or why idle-only cannot be honoured).
        public var notes: [String]

        public var isSuspended: Bool { !reasons.isEmpty }
        /// Whether training in the middle of a lease must wait.
        public var stopsTraining: Bool { reasons.contains { $0.stopsTraining } }
    }

    var calendar: Calendar {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = timeZone
        return c
    }

    /// Counts `bytes` of traffic at time `now` towards the daily cap.
    public mutating func record(bytes: Int, at now: Double) {
        rollDay(now)
        bytesToday += max(0, bytes)
    }

    /// Restores the count of a day from `usage.json` (an earlier day's count is dropped at the next roll).
    public mutating func restore(bytes: Int, dayStart: Double) {
        self.bytesToday = max(0, bytes)
        self.dayStart = dayStart
    }

    mutating func rollDay(_ now: Double) {
        let midnight = calendar.startOfDay(for: Date(timeIntervalSince1970: now)).timeIntervalSince1970
        if midnight != dayStart {
            dayStart = midnight
            bytesToday = 0
        }
    }

    /// Decides the reasons at `now`.
    /// - Parameters:
    ///   - pausedUntil: nil when not paused; `.infinity` for an indefinite pause.
    ///   - idle: the idle probe's finding (ignored unless idle-only mode). In idle-only mode `.unavailable`
    ///     suspends (`idleUnknown`, fail closed) with a note saying why and what to do.
    ///   - onBattery: the power probe's finding; nil when unknown (treated as AC).
    public mutating func evaluate(now: Double, pausedUntil: Double?, idle: IdleState, onBattery: Bool?) -> Decision {
        rollDay(now)
        var reasons: [SuspendReason] = []
        var next: [Double] = []
        var notes: [String] = []
        if let until = pausedUntil, until > now {
            reasons.append(.paused)
            if until.isFinite { next.append(until) }
        }
        if let minutes = settings.idleOnlyMinutes {
            let need = Double(minutes) * 60
            switch idle {
            case .idle(let since):
                if now - since < need {
                    reasons.append(.userActive)
                    next.append(since + need)
                }
            case .active:
                reasons.append(.userActive)
            case .unavailable(let why):
                // Fail closed: running here would train while the volunteer may be at the keyboard.
                reasons.append(.idleUnknown)
                notes.append(Self.idleUnknownNote(why))
            }
        }
        if settings.acOnly {
            if onBattery == true { reasons.append(.onBattery) }
            if onBattery == nil { notes.append("power source unknown; running as if on AC") }
        }
        let date = Date(timeIntervalSince1970: now)
        let cal = calendar
        if let hours = settings.hours {
            let hour = cal.component(.hour, from: date)
            if !hours.contains(hour: hour) { reasons.append(.outsideHours) }
            // The next full hour is when the window can open or close.
            if let interval = cal.dateInterval(of: .hour, for: date) { next.append(interval.end.timeIntervalSince1970) }
        }
        if let cap = settings.dailyDataCap {
            if bytesToday >= cap { reasons.append(.quotaReached) }
            if let tomorrow = cal.date(byAdding: .day, value: 1, to: Date(timeIntervalSince1970: dayStart)) {
                next.append(tomorrow.timeIntervalSince1970)
            }
        }
        return Decision(reasons: reasons.sorted(), nextChange: next.min(), notes: notes)
    }

    /// What `peer status` and the log say while idle-only mode cannot read idleness (`why`: the probe's finding).
    static func idleUnknownNote(_ why: String) -> String {
        "idle-only is set but idleness cannot be read (\(why)): training stays paused; unset idleOnlyMinutes "
            + "(--idle-only-minutes, CROWDTRAIN_IDLE_ONLY_MINUTES or peer.json) or run in a graphical/logind session"
    }
}
