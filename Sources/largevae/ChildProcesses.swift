import Foundation

/// The processes this one started and has not reaped (local workers, a benchmark's measuring
/// processes), read from the kernel rather than kept in a list of our own, so that a process
/// quitting at once on a signal (`Train.quitNow`) stops them instead of leaving them to notice,
/// many seconds later, that their coordinator is gone.
enum ChildProcesses {
    /// This process's children: `/proc/self/task/*/children` (each thread lists those it
    /// started); empty where there is no such file (not Linux).
    static var current: [Int32] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.flatMap { task in
            ((try? String(contentsOfFile: "/proc/self/task/\(task)/children", encoding: .utf8)) ?? "")
                .split(separator: " ").compactMap { Int32($0) }
        }
    }

    /// Sends SIGTERM to every child.
    static func terminateAll() {
        for id in current { kill(id, SIGTERM) }
    }
}
