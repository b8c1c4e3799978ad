import ArgumentParser
import CNNGPU

struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "devices", abstract: "List every usable device.")
    func run() throws {}
}
