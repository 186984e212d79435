fn main() -> std::process::ExitCode {
    wile_e_coyote::run()
}
