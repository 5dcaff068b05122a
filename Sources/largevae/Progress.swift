import Foundation
import Logging
import Training

/// A one-line progress bar on a terminal, redrawn in place; silent when stdout is not a terminal
/// (the epoch log lines then carry the progress).
final class ProgressBar {
    let enabled: Bool
    private var lastDraw = Date.distantPast

    init(enabled: Bool = isatty(STDOUT_FILENO) == 1) { self.enabled = enabled }

    private var lastLog = Date()

    /// Redraws at most ten times a second, and always on the last step of an epoch. Without a
    /// terminal, a distributed run logs the line every 30 seconds instead.
    func update(_ p: StepProgress, epochs: Int) {
        let now = Date()
        if !enabled {
            if p.cluster != nil && now.timeIntervalSince(lastLog) > 30 {
                lastLog = now
                Console.logger.info("\(Self.line(p, epochs: epochs, bar: nil))")
            }
            return
        }
        guard p.step == p.stepsPerEpoch || now.timeIntervalSince(lastDraw) > 0.1 else { return }
        lastDraw = now
        let width = 24, filled = width * p.step / Swift.max(p.stepsPerEpoch, 1)
        let bar = String(repeating: "=", count: filled) + (filled < width ? ">" : "") + String(repeating: " ", count: Swift.max(width - filled - 1, 0))
        FileHandle.standardOutput.write(("\r\u{1B}[K" + Self.line(p, epochs: epochs, bar: bar)).data(using: .utf8)!)
    }

    /// `epoch e/E [bar] step/steps  loss  samples/s  ETA`, and for a distributed step its time
    /// split (compute | communication | update, in ms) and megabytes sent and received.
    static func line(_ p: StepProgress, epochs: Int, bar: String?) -> String {
        let eta = p.elapsed / Double(p.step) * Double(p.stepsPerEpoch - p.step)
        var line = String(format: "epoch %d/%d %@%d/%d  loss %.3f  %.0f samples/s  ETA %@",
                          p.epoch, epochs, bar.map { "[\($0)] " } ?? "step ", p.step, p.stepsPerEpoch, p.loss,
                          p.samplesPerSecond, clock(eta))
        if let c = p.cluster {
            line += String(format: "  | %d workers  compute %.1f  comm %.1f  update %.1f ms  %.1f/%.1f MB",
                           Int(c.workers), 1000 * c.computeSeconds, 1000 * c.communicationSeconds, 1000 * c.updateSeconds,
                           c.bytesSent / 1e6, c.bytesReceived / 1e6)
        }
        return line
    }

    /// Ends the bar's line before a log line is printed.
    func finishLine() {
        guard enabled else { return }
        FileHandle.standardOutput.write("\r\u{1B}[K".data(using: .utf8)!)
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}

/// Log lines for humans, through swift-log.
enum Console {
    static let logger: Logger = {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardOutput(label: label)
            // LARGEVAE_LOG=debug|trace shows more (trace: the coordinator's and workers' timelines).
            handler.logLevel = ProcessInfo.processInfo.environment["LARGEVAE_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .info
            return handler
        }
        return Logger(label: "largevae")
    }()
}
