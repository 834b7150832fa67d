import ArgumentParser

/// `usero-bench`: the baselines and seeding the benchmark scripts (`scripts/bench-*.sh`) use. Kept out of the
/// `usero` product; it opens the embedded store directly.
@main
struct UseroBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usero-bench", abstract: "Benchmark baselines and seeding for usero.",
        subcommands: [BenchCommitBaseline.self, BenchUninstallScrub.self, SeedRetention.self])
}
