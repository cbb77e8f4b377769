// NOTE: Swift's `precondition` and `preconditionFailure` drop their message in optimised builds, so a
// release user would see "Illegal instruction" and nothing else. Fluxion's checks must name the
// operation, the shapes and the argument in every build: inside this module these shadow the
// standard ones and always print the message (it is still built only when the check fails).
// They have `package` access: the other Fluxion modules use these two (one helper for all), and
// code outside the package keeps the standard ones.

@inlinable @inline(__always)
package func precondition(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String = String(),
                  file: StaticString = #file, line: UInt = #line) {
    if _slowPath(!condition()) { fatalError(message(), file: file, line: line) }
}

@inlinable
package func preconditionFailure(_ message: @autoclosure () -> String = String(), file: StaticString = #file, line: UInt = #line) -> Never {
    fatalError(message(), file: file, line: line)
}
