// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "./Owned.sol";

/// @notice An L2 sequencer uptime feed shaped like Chainlink's (AggregatorV3Interface): answer 0 = up,
/// 1 = down; startedAt = when the current status began. The owner flips it (`indexbot devnet sequencer`).
contract SequencerUptimeFeed is Owned {
    uint8 public constant decimals = 0;
    uint256 public constant version = 1;
    string public constant description = "L2 Sequencer Uptime Status Feed";
    uint80 public latestRound;
    int256 private _answer;
    uint256 private _startedAt;
    uint256 private _updatedAt;

    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    /// @param upSince when the sequencer came up (in the past, so the grace period after a restart is over)
    constructor(uint256 upSince) {
        latestRound = 1;
        _startedAt = upSince;
        _updatedAt = block.timestamp;
    }

    function setDown(bool down) external onlyOwner {
        int256 answer = down ? int256(1) : int256(0);
        if (answer != _answer) {
            _answer = answer;
            _startedAt = block.timestamp;
        }
        latestRound += 1;
        _updatedAt = block.timestamp;
        emit AnswerUpdated(answer, latestRound, block.timestamp);
    }

    function latestAnswer() external view returns (int256) {
        return _answer;
    }

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return (latestRound, _answer, _startedAt, _updatedAt, latestRound);
    }
}
