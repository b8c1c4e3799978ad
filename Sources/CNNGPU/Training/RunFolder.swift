import Foundation

/// A training run's folder (checkpoint, metrics, curves), held for the life of the run.
///
/// Opening it: takes an exclusive `flock` on `DIR/.lock` (released by the kernel when the
/// process ends, however it ends), so two runs never write one checkpoint; refuses to replace a
/// finished or interrupted run unless asked to resume or overwrite it; removes temporary files
/// left by a writer killed mid-write (safe, since no other run can be writing); and proves the
/// folder writable before any training, instead of failing after the first epoch.
///
/// ```swift
/// let folder = try RunFolder.open(URL(fileURLWithPath: "runs/lenet5"), resume: false, overwrite: false)
/// // … build the trainer (a resume reads the checkpoint under the lock), then:
/// try folder.discardPreviousRun()   // only does something with overwrite: true
/// // … train; keep `folder` alive until the run ends.
/// ```
public final class RunFolder {
    public let url: URL
    private let lockDescriptor: Int32

    /// The files a run writes; `discardPreviousRun` removes them before starting afresh.
    public static let runFiles = ["checkpoint.safetensors", "best.safetensors", "metrics.jsonl", "curves.svg"]

    private init(url: URL, lockDescriptor: Int32) { self.url = url; self.lockDescriptor = lockDescriptor }

    deinit { close(lockDescriptor) }

    public static func open(_ url: URL, resume: Bool, overwrite: Bool) throws -> RunFolder {
        let path = url.path
        guard !(resume && overwrite) else {
            throw CNNError.invalidArgument("--resume continues the run in \(path), --overwrite discards it: give one of them")
        }
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw CNNError.invalidArgument("cannot create the checkpoint folder \(path): \(error.localizedDescription). "
                + "Choose a writable folder with --checkpoint DIR")
        }
        let fd = Foundation.open(url.appendingPathComponent(".lock").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw notWritable(path, errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            var holder = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &holder, holder.count, 0)
            close(fd)
            guard code == EWOULDBLOCK else {
                throw CNNError.invalidArgument("cannot lock the checkpoint folder \(path): \(String(cString: strerror(code)))")
            }
            let pid = n > 0 ? String(decoding: holder.prefix(n), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
            throw CNNError.invalidArgument("another cnn-gpu run\(pid.isEmpty ? "" : " (process \(pid))") is using the checkpoint "
                + "folder \(path). Wait for it to end, or give this run its own folder with --checkpoint DIR")
        }
        let folder = RunFolder(url: url, lockDescriptor: fd)   // from here on, deinit releases the lock
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.utf8.count, 0)

        try folder.removeStaleTemporaries()
        try folder.checkWritable()
        let checkpoint = url.appendingPathComponent("checkpoint.safetensors")
        let exists = FileManager.default.fileExists(atPath: checkpoint.path)
        if resume && !exists {
            throw CNNError.invalidArgument("--resume: no checkpoint at \(checkpoint.path); train without --resume first")
        }
        if exists && !resume {
            guard overwrite else {
                throw CNNError.invalidArgument("\(path) already holds a run (\(checkpoint.lastPathComponent)). "
                    + "Continue it with --resume, replace it with --overwrite, or choose another folder with --checkpoint DIR")
            }
            folder.replacesPreviousRun = true
        }
        return folder
    }

    /// The folder under `root` (one level down) whose `checkpoint.safetensors` is a checkpoint
    /// of `model` written most recently: what `--resume` without a path continues. Unreadable
    /// or foreign files are passed over.
    public static func latest(of model: String, in root: URL) -> URL? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        var best: (url: URL, date: Date)?
        for name in names where !name.hasPrefix(".") {
            let folder = root.appendingPathComponent(name)
            let file = folder.appendingPathComponent("checkpoint.safetensors")
            guard let date = (try? FileManager.default.attributesOfItem(atPath: file.path))?[.modificationDate] as? Date,
                  date > best?.date ?? .distantPast,
                  let metadata = try? SafeTensors.metadata(of: file),
                  metadata["format"] == Checkpoint.format, metadata["model"] == model else { continue }
            best = (folder, date)
        }
        return best?.url
    }

    /// Whether the folder held a run that `--overwrite` replaces.
    public private(set) var replacesPreviousRun = false

    /// With `overwrite`, removes the previous run's files. Call it once everything else has been
    /// checked, just before training, so a run that fails to start discards nothing.
    public func discardPreviousRun() throws {
        guard replacesPreviousRun else { return }
        for name in RunFolder.runFiles {
            let file = url.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: file.path) { try FileManager.default.removeItem(at: file) }
        }
        replacesPreviousRun = false
    }

    /// `.NAME.tmp-PID` files of `AtomicFile` whose writer died before renaming them.
    private func removeStaleTemporaries() throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        for name in names where name.hasPrefix(".") && name.contains(".tmp-") {
            try? FileManager.default.removeItem(at: url.appendingPathComponent(name))
        }
    }

    /// Creating a file is what a checkpoint save does; try it now.
    private func checkWritable() throws {
        let probe = url.appendingPathComponent(".write-test-\(getpid())")
        let fd = Foundation.open(probe.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RunFolder.notWritable(url.path, errno) }
        close(fd)
        unlink(probe.path)
    }

    private static func notWritable(_ path: String, _ code: Int32) -> CNNError {
        .invalidArgument("the checkpoint folder \(path) is not writable (\(String(cString: strerror(code)))): "
            + "checkpoints could not be saved. Fix its permissions or choose another folder with --checkpoint DIR")
    }
}
