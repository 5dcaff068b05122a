import ArgumentParser
import Foundation

/// The `largevae` command line.
struct LargeVAE: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "largevae",
        abstract: "Train VAEs with the VampPrior (Tomczak & Welling 2018) on one machine or many.",
        version: "0.1.0",
        subcommands: [Train.self, CoordinatorCommand.self, WorkerCommand.self, StatusCommand.self, KeygenCommand.self, Evaluate.self, Sample.self,
                      Reconstruct.self, DataCommand.self, Bench.self])
}

/// Runs a subcommand's `body`: usage errors go to ArgumentParser (usage text, exit 64); any other
/// error becomes `error: <description>` on stderr and exit code 1, never a trap.
func reportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch let e as ValidationError { throw e } catch let e as ExitCode { throw e } catch {
        FileHandle.standardError.write(Data("error: \(error.localizedDescription)\n".utf8))
        throw ExitCode(1)
    }
}

LargeVAE.main()
